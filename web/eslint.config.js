// ESLint (flat config): typescript-eslint's type-aware recommended rules and the React hooks rules.
// `npm run lint`; `make test` runs it through the Makefile's web-test target.
import js from "@eslint/js";
import reactHooks from "eslint-plugin-react-hooks";
import globals from "globals";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["node_modules/", "dist/", "src/api/types.gen.ts"] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  reactHooks.configs.flat["recommended-latest"],
  {
    languageOptions: {
      ecmaVersion: 2022,
      globals: { ...globals.browser },
      parserOptions: { project: ["./tsconfig.json", "./tsconfig.test.json"], tsconfigRootDir: import.meta.dirname },
    },
  },
  {
    rules: {
      // The editor's effects start fetches and re-sync a field's text from its prop (fields.tsx): the
      // pattern this React Compiler rule flags. Rewriting them would change when fields update.
      "react-hooks/set-state-in-effect": "off",
    },
  },
  {
    files: ["scripts/**/*.mjs", "eslint.config.js", "vite.config.ts"],
    languageOptions: { globals: { ...globals.node } },
  },
  {
    files: ["scripts/**/*.mjs", "eslint.config.js", "vite.config.ts"],
    ...tseslint.configs.disableTypeChecked,
  },
);
