import { call } from './transport';

export interface SystemStatus {
  appVersion: string;
  mode: 'desktop' | 'browser';
  dockerRunning: boolean;
  dockerVersion?: string;
  dockerMessage?: string;
  dataDir: string;
  dataBytes: number;
  freeBytes: number;
  apiUrl?: string;
}

export const status = () => call<SystemStatus>('System.Status');

/** Desktop only: a native file picker; '' when the person cancels. */
export const openFileDialog = (title: string, patterns = '') => call<string>('System.OpenFileDialog', title, patterns);
