import { describe, expect, it, vi } from 'vitest';
import { render, fireEvent } from '@testing-library/svelte';
import ColumnTable from './ColumnTable.svelte';
import type { Column, ColumnProfile } from '../../api/datasets';

const prof = (name: string, mean: number | undefined, missing: number): ColumnProfile => ({
  name,
  type: mean === undefined ? 'categorical' : 'float',
  count: 100 - missing,
  missing,
  distinct: 5,
  numeric: mean === undefined ? undefined : { min: 0, max: 10, mean, std: 1, quantiles: [], histogram: { edges: [], counts: [] }, sketch: null },
});
const columns = [prof('b', 5, 0), prof('city', undefined, 40), prof('a', 9, 3)];
const schema: Column[] = columns.map((c) => ({ name: c.name, type: c.type, role: 'feature', protected: false }));

const order = (el: HTMLElement) => Array.from(el.querySelectorAll('tbody tr')).map((r) => r.getAttribute('data-column'));

describe('ColumnTable', () => {
  it('sorts by a header, flips on a second click, keeps blanks last', async () => {
    const { container, getByText } = render(ColumnTable, { columns, schema });
    expect(order(container)).toEqual(['b', 'city', 'a']);
    await fireEvent.click(getByText('Mean'));
    expect(order(container)).toEqual(['a', 'b', 'city']);
    await fireEvent.click(getByText(/Mean/));
    expect(order(container)).toEqual(['b', 'a', 'city']);
    await fireEvent.click(getByText('Missing'));
    expect(order(container)).toEqual(['city', 'a', 'b']);
    expect(container.querySelector('td.warn')?.textContent).toBe('40%');
  });
  it('reports role changes', async () => {
    const onRole = vi.fn();
    const { container } = render(ColumnTable, { columns, schema, onRole });
    const sel = container.querySelector('select[aria-label="Role of a"]') as HTMLSelectElement;
    sel.value = 'target';
    await fireEvent.change(sel);
    expect(onRole).toHaveBeenCalledWith('a', 'target', false);
  });
});
