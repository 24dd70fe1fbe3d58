// Lints the library (clients/js) and the web app (static/js, minus the copy of the library and
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
];
