import { defineConfig } from 'drizzle-kit';

// drizzle-kit only reads the schema and writes SQL; it never connects to a database.
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/db/schema/index.ts',
  out: './drizzle',
});
