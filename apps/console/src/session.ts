/** The token lives only in sessionStorage: gone when the tab closes, never in localStorage or cookies. */
const KEY = 'fx.console.token';

export const session = {
  get(): string | null {
    try {
      return sessionStorage.getItem(KEY);
    } catch {
      return null;
    }
  },
  set(token: string): void {
    sessionStorage.setItem(KEY, token);
  },
  clear(): void {
    sessionStorage.removeItem(KEY);
  },
};
