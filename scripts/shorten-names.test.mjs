// Tests of scripts/shorten-names.mjs on modules built byte by byte, each with a glue in the
// form wasm-bindgen writes: after the rewrite the module must still compile, link with the
// glue's import object, and every call of the glue must reach the export it named before.
//
// Usage: node --test scripts/shorten-names.test.mjs
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";

const script = fileURLToPath(new URL("./shorten-names.mjs", import.meta.url));

// --- Writing the binary format. ---

function u32(value) {
  const out = [];
  do {
    let byte = value & 0x7f;
    value = Math.floor(value / 128);
    if (value) byte |= 0x80;
    out.push(byte);
  } while (value);
  return out;
}
const name = (text) => {
  const bytes = [...Buffer.from(text, "utf8")];
  return [...u32(bytes.length), ...bytes];
};
const vector = (items) => [...u32(items.length), ...items.flat()];
const section = (id, bytes) => [id, ...u32(bytes.length), ...bytes];

// A module: type 0 `() -> i32`, type 1 `(i32) -> ()`; `imports` as [module, field, kind and
// description bytes]; one exported function per entry of `exports` ([name, constant]), which
// returns its constant; `more` extra exports as [name, kind, index].
function module({ imports = [], exports = [], more = [] }) {
  const functionImports = imports.filter(([, , description]) => description[0] === 0).length;
  const bodies = exports.map(([, constant]) => {
    const code = [0x00, 0x41, ...signed(constant), 0x0b]; // no locals, i32.const, end
    return [...u32(code.length), ...code];
  });
  return Buffer.from([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vector([[0x60, 0, 1, 0x7f], [0x60, 1, 0x7f, 0]])),
    ...(imports.length ? section(2, vector(imports.map(([m, f, d]) => [...name(m), ...name(f), ...d]))) : []),
    ...(exports.length ? section(3, vector(exports.map(() => [0]))) : []),
    ...section(
      7,
      vector([
        ...exports.map(([exported], i) => [...name(exported), 0, ...u32(functionImports + i)]),
        ...more.map(([exported, kind, index]) => [...name(exported), kind, ...u32(index)]),
      ]),
    ),
    ...(exports.length ? section(10, vector(bodies)) : []),
  ]);
}
function signed(value) {
  const out = [];
  for (;;) {
    const byte = value & 0x7f;
    value >>= 7;
    if ((value === 0 && !(byte & 0x40)) || (value === -1 && byte & 0x40)) return [...out, byte];
    out.push(byte | 0x80);
  }
}
const FUNCTION = [0x00, 0x00]; // kind function, type 0

// Reads back the first import's names (module, field).
function firstImportNames(bytes) {
  const read = (at) => {
    let value = 0;
    for (let shift = 0; ; shift += 7) {
      const byte = bytes[at++];
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return [value, at];
    }
  };
  const readName = (at) => {
    const [length, start] = read(at);
    return [bytes.subarray(start, start + length).toString("utf8"), start + length];
  };
  for (let at = 8; at < bytes.length; ) {
    const [size, start] = read(at + 1);
    if (bytes[at] === 2) {
      const [module, afterModule] = readName(read(start)[1]);
      return [module, readName(afterModule)[0]];
    }
    at = start + size;
  }
  return null;
}

// --- The glue, as wasm-bindgen 0.2.130 writes it. ---

function glue({ fields = [], namespace = null, calls = [] }) {
  const lines = [];
  if (namespace) lines.push(`import * as import1 from "./snip.js"`, "");
  lines.push("let wasm;", "");
  calls.forEach((exported, i) => lines.push(`export function call${i}() {`, `    return wasm.${exported}();`, "}", ""));
  lines.push("function __wbg_get_imports() {", "    const import0 = {", "        __proto__: null,");
  fields.forEach((field, i) => lines.push(`        ${field}: function() {`, `            return ${i};`, "        },"));
  lines.push("    };", "    return {", "        __proto__: null,", '        "./x_bg.js": import0,');
  if (namespace) lines.push('        "./snip.js": import1,');
  lines.push("    };", "}", "");
  lines.push("export function initSync(bytes) {");
  lines.push("    wasm = new WebAssembly.Instance(new WebAssembly.Module(bytes), __wbg_get_imports()).exports;");
  lines.push("    return __wbg_get_imports();", "}", "");
  return lines.join("\n");
}

// Writes the pair into a new directory, runs the script on it, and loads the result.
async function shorten(files, { expectFailure = false } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "shorten-names-"));
  for (const [file, content] of Object.entries(files)) writeFileSync(join(dir, file), content);
  const run = spawnSync(process.execPath, [script, join(dir, "x.js")], { encoding: "utf8" });
  if (expectFailure) {
    for (const [file, content] of Object.entries(files)) {
      assert.deepEqual(readFileSync(join(dir, file)), Buffer.from(content), `${file} unchanged`);
    }
    rmSync(dir, { recursive: true });
    return run;
  }
  assert.equal(run.status, 0, run.stderr);
  const wasm = readFileSync(join(dir, "x_bg.wasm"));
  const glueModule = await import(pathToFileURL(join(dir, "x.js")).href);
  const read = (file) => readFileSync(join(dir, file), "utf8");
  return { dir, wasm, glue: glueModule, read, done: () => rmSync(dir, { recursive: true }) };
}

const field = (i) => `__wbg_f${i}_${i.toString(16).padStart(16, "0")}`;

test("every import reaches the glue's function it named, across LEB128 size boundaries", async () => {
  // 1..8 imports: a section of 50..400 bytes that shrinks below 128; 400: from three bytes of
  // size to two; 3200: short names past `$$`, `$1`, `$&`-like ones (index 2969 is `$$`).
  for (const count of [1, 2, 3, 4, 5, 6, 7, 8, 400, 3200]) {
    const fields = Array.from({ length: count }, (_, i) => field(i));
    const wasm = module({ imports: fields.map((f) => ["./x_bg.js", f, FUNCTION]) });
    const { glue: g, wasm: shortened, done } = await shorten({ "x.js": glue({ fields }), "x_bg.wasm": wasm });
    const imports = g.initSync(shortened);
    const names = WebAssembly.Module.imports(new WebAssembly.Module(shortened));
    assert.equal(names.length, count);
    names.forEach(({ module: m, name: f }, i) => assert.equal(imports[m][f](), i, `import ${i} of ${count}: ${m}.${f}`));
    assert.equal(new Set(names.map(({ name: f }) => f)).size, count, "short names are distinct");
    done();
  }
});

test("each call of the glue reaches the export it named", async () => {
  // `a` and `c` are exports too (the first short names), `foo` is a prefix of `foo$bar` and
  // `foo_bar`, `kept` is not called by the glue and keeps its name, like `memory`.
  const exports = [["foo", 1], ["a", 2], ["foo$bar", 3], ["foo_bar", 4], ["c", 5], ["kept", 6], ["\u00e9t\u00e9", 7]];
  const calls = ["foo", "a", "foo$bar", "foo_bar", "c", "\u00e9t\u00e9"];
  const wasm = module({ exports, more: [["memory_like", 0, 0]] });
  const { glue: g, wasm: shortened, done } = await shorten({ "x.js": glue({ calls }), "x_bg.wasm": wasm });
  g.initSync(shortened);
  assert.deepEqual(
    calls.map((_, i) => g[`call${i}`]()),
    [1, 2, 3, 4, 5, 7],
  );
  const names = WebAssembly.Module.exports(new WebAssembly.Module(shortened)).map(({ name: n }) => n);
  assert.ok(names.includes("kept") && names.includes("memory_like"), names.join(" "));
  assert.equal(new Set(names).size, names.length, `distinct export names: ${names.join(" ")}`);
  done();
});

test("imports of every kind, through a snippet's namespace, still link", async () => {
  const snip = [
    'export const mem = new WebAssembly.Memory({ initial: 1, maximum: 2 });',
    'export const tab = new WebAssembly.Table({ initial: 1, element: "anyfunc" });',
    'export const glob = new WebAssembly.Global({ value: "i32", mutable: true }, 7);',
    'export const tag = new WebAssembly.Tag({ parameters: ["i32"] });',
    'export const ref = new WebAssembly.Global({ value: "externref", mutable: false }, "x");',
    'const dashed = 5; export { dashed as "not-an-identifier" };',
  ].join("\n");
  const imports = [
    ["./snip.js", "mem", [0x02, 0x01, 1, 2]],
    ["./snip.js", "tab", [0x01, 0x70, 0x00, 1]],
    ["./snip.js", "glob", [0x03, 0x7f, 1]],
    ["./snip.js", "tag", [0x04, 0x00, 1]],
    ["./snip.js", "ref", [0x03, 0x6f, 0]],
    ["./x_bg.js", field(0), FUNCTION],
    ["./x_bg.js", field(0), FUNCTION], // the same import twice: one name
  ];
  const wasm = module({ imports, exports: [["answer", 42]] });
  const files = { "x.js": glue({ fields: [field(0)], namespace: true, calls: ["answer"] }), "x_bg.wasm": wasm, "snip.js": snip };
  const { glue: g, wasm: shortened, done } = await shorten(files);
  g.initSync(shortened);
  assert.equal(g.call0(), 42);
  done();

  // The same with an import named as no identifier is (reached as import1["..."]), which a
  // function import from the namespace would be.
  const dashed = [...imports.slice(0, 5), ["./snip.js", "not-an-identifier", [0x03, 0x7f, 0]]];
  const second = await shorten({ ...files, "x_bg.wasm": module({ imports: dashed, exports: [["answer", 42]] }) });
  second.glue.initSync(second.wasm);
  assert.equal(second.glue.call0(), 42);
  second.done();
});

test("a global import of a typed reference is skipped whole", async () => {
  // `(ref null extern)` written long (0x63 0x6f), as a module with typed references has it: the
  // import after it must be read at the right byte. (Node 20 cannot compile such a module,
  // so the names are read back instead.)
  const imports = [
    ["./snip.js", "ref", [0x03, 0x63, 0x6f, 0]],
    ["./x_bg.js", field(0), FUNCTION],
  ];
  const wasm = module({ imports });
  const files = { "x.js": glue({ fields: [field(0)], namespace: true }), "x_bg.wasm": wasm, "snip.js": "export const ref = null;" };
  const { wasm: shortened, done } = await shorten(files);
  assert.deepEqual(firstImportNames(shortened), ["a", "a"]);
  done();
});

test("the typings follow the renamed exports, and a second run changes nothing", async () => {
  const wasm = module({ exports: [["chatclientcore_close", 1], ["kept", 2]], more: [] });
  const files = {
    "x.js": glue({ calls: ["chatclientcore_close"] }),
    "x_bg.wasm": wasm,
    "x_bg.wasm.d.ts": "export const chatclientcore_close: (a: number) => void;\nexport const kept: () => number;\n",
    "x.d.ts": [
      "export class ChatClientCore {",
      "  close(): void;",
      "}",
      "export interface InitOutput {",
      "    readonly chatclientcore_close: (a: number) => void;",
      "    readonly kept: () => number;",
      "}",
      "",
    ].join("\n"),
  };
  const { dir, read, wasm: shortened, done } = await shorten(files);
  const [short] = WebAssembly.Module.exports(new WebAssembly.Module(shortened)).map(({ name: n }) => n);
  assert.match(read("x_bg.wasm.d.ts"), new RegExp(`^export const ${short}: \\(a: number\\) => void;\nexport const kept:`));
  assert.match(read("x.d.ts"), new RegExp(`readonly ${short}: \\(a: number\\) => void;\n    readonly kept:`));
  assert.doesNotMatch(read("x.d.ts"), /chatclientcore_close/);
  const before = [read("x.js"), readFileSync(join(dir, "x_bg.wasm"))];
  execFileSync(process.execPath, [script, join(dir, "x.js")]);
  assert.deepEqual([read("x.js"), readFileSync(join(dir, "x_bg.wasm"))], before);
  done();
});

test("a glue in another form fails loudly and writes nothing", async () => {
  const wasm = module({ imports: [["./x_bg.js", field(0), FUNCTION]] });
  const run = await shorten({ "x.js": glue({ fields: [field(1)] }), "x_bg.wasm": wasm }, { expectFailure: true });
  assert.equal(run.status, 1);
  assert.match(run.stderr, /expected "__wbg_f0_0000000000000000: function\(" once in the glue, found it 0 times/);
});
