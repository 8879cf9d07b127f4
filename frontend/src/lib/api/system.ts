import { call, type Result } from './transport';

/** Generated from the Go type (bindings.gen.ts). */
export type SystemStatus = Result<'System.Status'>;

export const status = () => call('System.Status');

/** Desktop only: a native file picker; '' when the person cancels. */
export const openFileDialog = (title: string, patterns = '') => call('System.OpenFileDialog', title, patterns);
