// Reads a running Vigie's schema as GraphQL tools do (graphql-js's standard
// introspection query, every option on), rebuilds it with `buildClientSchema`, and
// compares it with schema.graphql. Usage: node scripts/introspect.mjs URL SCHEMA_FILE
import { readFileSync } from 'node:fs';
import {
  GraphQLSchema,
  buildClientSchema,
  buildSchema,
  getIntrospectionQuery,
  lexicographicSortSchema,
  printSchema,
} from 'graphql';

const [url, schemaFile] = process.argv.slice(2);
const query = getIntrospectionQuery({
  descriptions: true,
  specifiedByUrl: true,
  directiveIsRepeatable: true,
  schemaDescription: true,
  inputValueDeprecation: true,
  oneOf: true,
});
const response = await fetch(url, {
  method: 'POST',
  headers: { 'content-type': 'application/json', accept: 'application/json' },
  body: JSON.stringify({ query, operationName: 'IntrospectionQuery' }),
});
const body = await response.json();
if (body.errors) {
  console.error(`introspection refused: ${JSON.stringify(body.errors)}`);
  process.exit(1);
}
const print = (schema) => printSchema(lexicographicSortSchema(schema)).split('\n');
// async-graphql answers `__schema { description }` with the text describing `__Schema`
// itself, not a description of Vigie's schema: left out of the comparison.
const client = buildClientSchema(body.data);
const served = print(new GraphQLSchema({ ...client.toConfig(), description: undefined }));
const committed = print(buildSchema(readFileSync(schemaFile, 'utf8')));
const differs = served.findIndex((line, i) => line !== committed[i]);
if (differs !== -1 || served.length !== committed.length) {
  const at = differs === -1 ? Math.min(served.length, committed.length) : differs;
  console.error(`the served schema differs from ${schemaFile} at line ${at + 1}:`);
  console.error(`  served:    ${served[at]}\n  committed: ${committed[at]}`);
  process.exit(1);
}
console.log(`schema read by introspection: ${served.length} lines, as ${schemaFile}`);
