// Shortens the names between a wasm-bindgen module and its JavaScript glue, in both files.
//
// wasm-bindgen names every import after the JS it calls plus a 16-hex-digit hash
// (`__wbg_send_d83d0891cf698779`), once in the module's import section and once as a key of
// the glue's import object; its exports are long names too (`chatclientcore_send`,
// `wasm_bindgen__convert__closures_____invoke__h254eb52676c54402`). Hashes are what gzip
// cannot compress: in our library module these names cost 4.6 KiB gzipped, wasm and JS
// together, more than one- and two-letter names do (scripts/wasm-size.sh's `long-names`). They are private to the pair: the
// glue builds the import object and calls the exports, nobody else does. So after
// wasm-bindgen (and wasm-opt) this renames
//   - every import to a short name (`a`, `b`, ... `aa`, `ba`, ...) and every import module to one
//     letter, and rewrites the glue's import object to match;
//   - every export the glue calls (`wasm.NAME`) to a short name, and the glue's calls and
//     the typings (NAME_bg.wasm.d.ts, and init()'s InitOutput in NAME.d.ts) to match.
//     `memory` keeps its name, and so does any export the glue does not call: `init()`
//     resolves to the module's exports. No short name is the name of another export.
//
// Strict by design: every import must be found exactly once in the glue, in the form
// wasm-bindgen writes it (`    name: function(` in the glue's own import object, or
// `"module": importN,` for a snippet imported as a namespace). A new wasm-bindgen that writes
// the glue differently makes this fail loudly instead of producing a module that cannot load.
//
// Usage: node scripts/shorten-names.mjs DIR/NAME.js    (NAME_bg.wasm beside it; idempotent)
import { existsSync, readFileSync, writeFileSync } from "node:fs";

const MARK = "\n// names shortened by ferrosocket's scripts/shorten-names.mjs\n";

const gluePath = process.argv[2];
if (!gluePath || !gluePath.endsWith(".js") || process.argv.length !== 3) {
  console.error("usage: node scripts/shorten-names.mjs DIR/NAME.js (NAME_bg.wasm beside it)");
  process.exit(2);
}
const wasmPath = gluePath.replace(/\.js$/, "_bg.wasm");
const typesPath = gluePath.replace(/\.js$/, "_bg.wasm.d.ts");
const glueTypesPath = gluePath.replace(/\.js$/, ".d.ts");
let glue = readFileSync(gluePath, "utf8");
// The typings to write back, once everything else has been checked.
const typings = new Map(); // path -> text
if (glue.endsWith(MARK)) {
  console.log(`${gluePath}: names already shortened`);
  process.exit(0);
}
const wasm = readFileSync(wasmPath);

function fail(message) {
  console.error(`shorten-names: ${gluePath}: ${message}`);
  process.exit(1);
}

// --- Reading and writing the binary format (only what the two sections need). ---

function readU32(bytes, at) {
  let value = 0;
  let shift = 0;
  for (;;) {
    const byte = bytes[at++];
    value += (byte & 0x7f) * 2 ** shift;
    shift += 7;
    if (byte < 0x80) return [value, at];
  }
}

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

const decoder = new TextDecoder();
function readName(bytes, at) {
  const [length, start] = readU32(bytes, at);
  return [decoder.decode(bytes.subarray(start, start + length)), start + length];
}
function name(text) {
  const bytes = Buffer.from(text, "utf8");
  return [...u32(bytes.length), ...bytes];
}

// Where an import's description (after its kind byte) ends.
function skipLimits(bytes, at) {
  const flags = bytes[at++];
  [, at] = readU32(bytes, at);
  if (flags & 1) [, at] = readU32(bytes, at);
  return at;
}
// A value or reference type: one byte, or `(ref null? HEAPTYPE)` (0x63/0x64 and a signed
// LEB128 heap type, as a global or table of a typed reference is imported).
function skipType(bytes, at) {
  const type = bytes[at++];
  return type === 0x63 || type === 0x64 ? readU32(bytes, at)[1] : at;
}
function skipDescription(kind, bytes, at) {
  switch (kind) {
    case 0: // function: type index
      return readU32(bytes, at)[1];
    case 1: // table: reference type, limits
      return skipLimits(bytes, skipType(bytes, at));
    case 2: // memory: limits
      return skipLimits(bytes, at);
    case 3: // global: value type, mutability
      return skipType(bytes, at) + 1;
    case 4: // tag: attribute, type index
      return readU32(bytes, at + 1)[1];
    default:
      fail(`unknown import kind ${kind}`);
  }
}

// Short names: valid identifiers, the one-character ones first.
const FIRST = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_$";
const REST = FIRST + "0123456789";
function shortName(index) {
  let text = FIRST[index % FIRST.length];
  index = Math.floor(index / FIRST.length);
  while (index > 0) {
    index -= 1;
    text += REST[index % REST.length];
    index = Math.floor(index / REST.length);
  }
  return text;
}

function escape(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

// Replaces the one match of `pattern` (a multiline regex) in the glue with what `replace`
// returns for it (a function, not a string: a short name may hold `$`, which a replacement
// string would read as `$$`, `$&` or `$1`).
function replaceOnce(pattern, replace, what) {
  const count = (glue.match(new RegExp(pattern.source, "gm")) || []).length;
  if (count !== 1) fail(`expected ${what} once in the glue, found it ${count} times`);
  glue = glue.replace(new RegExp(pattern.source, "m"), replace);
}

// `object.key` where the key is an identifier, `object["key"]` otherwise.
function member(object, key) {
  return /^[\p{ID_Start}$_][\p{ID_Continue}$\u200c\u200d]*$/u.test(key) ? `${object}.${key}` : `${object}[${JSON.stringify(key)}]`;
}

// --- The import section, and the glue's import object. ---

function shortenImports(body) {
  let [count, at] = readU32(body, 0);
  const modules = new Map(); // module -> { short, fields: Map(field -> short) }
  const out = [...u32(count)];
  for (let i = 0; i < count; i++) {
    let module, field;
    [module, at] = readName(body, at);
    [field, at] = readName(body, at);
    const end = skipDescription(body[at], body, at + 1);
    if (!modules.has(module)) modules.set(module, { short: shortName(modules.size), fields: new Map() });
    const { short, fields } = modules.get(module);
    if (!fields.has(field)) fields.set(field, shortName(fields.size));
    out.push(...name(short), ...name(fields.get(field)), ...body.subarray(at, end));
    at = end;
  }
  if (at !== body.length) fail("the import section has bytes after its last import");

  for (const [module, { short, fields }] of modules) {
    const key = new RegExp(`^(\\s*)"${escape(module)}": (import\\d+),$`);
    const match = glue.match(new RegExp(key.source, "m"));
    if (!match) fail(`expected the import object's key "${module}"`);
    const [, indent, variable] = match;
    if (new RegExp(`^\\s*const ${variable} = \\{$`, "m").test(glue)) {
      // The glue's own object literal: rename its keys where they are defined.
      for (const [field, fieldShort] of fields) {
        replaceOnce(
          new RegExp(`^(\\s+)${escape(field)}: function\\(`),
          (_, space) => `${space}${fieldShort}: function(`,
          `"${field}: function("`,
        );
      }
      replaceOnce(key, () => `${indent}${short}: ${variable},`, `"${module}": ${variable}`);
    } else if (new RegExp(`^import \\* as ${variable} from "${escape(module)}"`, "m").test(glue)) {
      // A snippet's namespace: an object of short names for the functions it exports.
      const members = [...fields].map(([field, fieldShort]) => `${fieldShort}: ${member(variable, field)}`);
      replaceOnce(key, () => `${indent}${short}: { ${members.join(", ")} },`, `"${module}": ${variable}`);
    } else {
      fail(`cannot tell what ${variable} (the import object's "${module}") is`);
    }
  }
  return { bytes: out, count };
}

// --- The export section, the glue's calls and the typings. ---

// A call of an export in the glue: `wasm.NAME`, not `other.wasm.NAME` nor `mywasm.NAME`, and the
// whole name (`wasm.foo` is not a call of `foo` in `wasm.foo$bar` or `wasm.foo_bar`).
const CALL = /(?<![\p{ID_Continue}$.\u200c\u200d])wasm\.([\p{ID_Start}$_][\p{ID_Continue}$\u200c\u200d]*)/gu;

function shortenExports(body) {
  let [count, at] = readU32(body, 0);
  const exports = [];
  for (let i = 0; i < count; i++) {
    let exported;
    [exported, at] = readName(body, at);
    const end = readU32(body, at + 1)[1]; // kind byte, index
    exports.push([exported, body.subarray(at, end)]);
    at = end;
  }
  if (at !== body.length) fail("the export section has bytes after its last export");

  // Every name is chosen before the glue changes, and none is the name of an export (one that
  // keeps its name, or one renamed in turn): each call then still reaches the export it named.
  const called = new Set([...glue.matchAll(CALL)].map(([, exported]) => exported));
  const taken = new Set(exports.map(([exported]) => exported));
  const renamed = new Map();
  let next = 0;
  for (const [exported] of exports) {
    if (exported === "memory" || !called.has(exported)) continue;
    let short;
    do short = shortName(next++);
    while (taken.has(short));
    renamed.set(exported, short);
  }
  glue = glue.replace(CALL, (call, exported) => (renamed.has(exported) ? `wasm.${renamed.get(exported)}` : call));
  const out = [...u32(count)];
  for (const [exported, description] of exports) out.push(...name(renamed.get(exported) ?? exported), ...description);

  // The typings of the module's exports (NAME_bg.wasm.d.ts), and of what init() resolves to
  // (the glue's InitOutput in NAME.d.ts).
  const rename = (line, before, exported) => (renamed.has(exported) ? `${before}${renamed.get(exported)}:` : line);
  if (existsSync(typesPath)) {
    const types = readFileSync(typesPath, "utf8");
    typings.set(typesPath, types.replace(/^(export const )([^:\s]+):/gm, rename));
  }
  if (existsSync(glueTypesPath)) {
    const types = readFileSync(glueTypesPath, "utf8");
    typings.set(
      glueTypesPath,
      types.replace(/^export interface InitOutput \{\n[\s\S]*?\n\}/m, (block) =>
        block.replace(/^(\s*readonly )([^:\s]+):/gm, rename),
      ),
    );
  }
  return { bytes: out, count: renamed.size };
}

// --- The module: every section copied, the two rewritten. ---

if (wasm.readUInt32LE(0) !== 0x6d736100) fail(`${wasmPath} is not a WebAssembly module`);
// Section id -> what it holds, and its rewrite.
const REWRITES = new Map([
  [2, ["imports", shortenImports]],
  [7, ["exports", shortenExports]],
]);
const parts = [wasm.subarray(0, 8)];
const report = {};
let at = 8;
while (at < wasm.length) {
  const id = wasm[at];
  const [size, start] = readU32(wasm, at + 1);
  const end = start + size;
  if (REWRITES.has(id)) {
    const [what, rewrite] = REWRITES.get(id);
    const { bytes, count } = rewrite(wasm.subarray(start, end));
    report[what] = count;
    parts.push(Buffer.from([id, ...u32(bytes.length), ...bytes]));
  } else {
    parts.push(wasm.subarray(at, end));
  }
  at = end;
}
const shortened = Buffer.concat(parts);

// Every file written only now: a check that fails above leaves them all as they were.
for (const [path, text] of typings) writeFileSync(path, text);
writeFileSync(wasmPath, shortened);
writeFileSync(gluePath, glue + MARK);
console.log(
  `${gluePath}: ${report.imports ?? 0} imports and ${report.exports ?? 0} exports renamed, ` +
    `wasm ${wasm.length - shortened.length} bytes smaller`,
);
