// ESLint's recommended rules over the page scripts in static/dashboard: ES modules the browser
// runs as they are, under a CSP that allows no inline script. Patterns are relative to the
// repository root, where ./sv test runs it:
//   tests/js/node_modules/.bin/eslint --config tests/js/eslint.config.js static/dashboard tests/js
import js from "@eslint/js";
import globals from "globals";

export default [
  { ignores: ["tests/js/node_modules/"] },
  // every file linted, wherever it is
  js.configs.recommended,
  {
    linterOptions: { reportUnusedDisableDirectives: "error" },
    languageOptions: { ecmaVersion: 2022, sourceType: "module" },
  },
  { files: ["static/**/*.js"], languageOptions: { globals: { ...globals.browser } } },
  { files: ["tests/js/**/*.js"], languageOptions: { globals: { ...globals.node } } },
];
