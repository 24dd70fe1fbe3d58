// Lints the library (clients/js) and the web app (static/js and its service worker static/sw.js, minus the copy of the library and
// the vendored Socket.IO bundle). Run from the repository root: `npm run lint` in clients/js.
import js from '@eslint/js';
import globals from 'globals';

export default [
  { ignores: ['**/node_modules/**', 'clients/js/types/**', 'static/js/missive/**', 'static/vendor/**', 'tests/**'] },
  js.configs.recommended,
  {
    files: ['**/*.js'],
    languageOptions: { ecmaVersion: 2023, sourceType: 'module', globals: { ...globals.browser, ...globals.node } },
    rules: { 'no-unused-vars': ['error', { argsIgnorePattern: '^_', caughtErrors: 'none' }] },
  },
  {
    // The web app's service worker: a classic script in the worker's own global scope.
    files: ['static/sw.js'],
    languageOptions: { sourceType: 'script', globals: { ...globals.serviceworker } },
  },
];
