// First: uPlot reads navigator.language as it loads (see lib/locale.ts).
import './lib/locale';
import { mount } from 'svelte';
import './app.css';
import App from './App.svelte';
import { applyTheme } from './lib/theme';

// Before the first paint, so a dark OS never sees a light flash.
applyTheme();

mount(App, { target: document.getElementById('app')! });
