// Validates an AsyncAPI document with the official parser; prints diagnostics as JSON.
import { readFileSync } from "node:fs";
import { Parser } from "@asyncapi/parser";

const file = process.argv[2];
const parser = new Parser();
const { document, diagnostics } = await parser.parse(readFileSync(file, "utf8"));
const errors = diagnostics.filter((d) => d.severity === 0);
console.log(JSON.stringify({
  valid: Boolean(document) && errors.length === 0,
  errors: errors.map((d) => ({ message: d.message, path: d.path })),
  warnings: diagnostics.filter((d) => d.severity === 1).length,
  channels: document ? document.channels().length : 0,
  messages: document ? document.allMessages().length : 0,
}));
process.exit(errors.length === 0 && document ? 0 : 1);
