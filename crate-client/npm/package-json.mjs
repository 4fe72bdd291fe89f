// Rewrites the package.json that wasm-pack wrote (name, version, description and license
// from Cargo) into the package's published form. Run by scripts/package.sh:
//   node crate-client/npm/package-json.mjs path/to/pkg/package.json
import { readFileSync, writeFileSync } from "node:fs";

const path = process.argv[2];
const generated = JSON.parse(readFileSync(path, "utf8"));

const pkg = {
  name: generated.name,
  version: generated.version,
  description: generated.description,
  license: generated.license,
  ...(generated.repository ? { repository: generated.repository } : {}),
  type: "module",
  // For tools that predate `exports`; `exports` wins wherever it is understood.
  main: "./index.js",
  module: "./index.js",
  types: "./index.d.ts",
  exports: {
    // Ready on import: top-level await instantiates the WebAssembly module.
    ".": { types: "./index.d.ts", default: "./index.js" },
    // The raw wasm-bindgen module: `init(url | bytes | Response)` or `initSync(...)`.
    "./init": { types: "./ferrosocket.d.ts", default: "./ferrosocket.js" },
    // For bundlers that do not copy it by themselves (esbuild), and for init(url).
    "./ferrosocket_bg.wasm": "./ferrosocket_bg.wasm",
    // The same three for the module without ChatClient (30 KiB less).
    "./sockets": { types: "./sockets/index.d.ts", default: "./sockets/index.js" },
    "./sockets/init": { types: "./sockets/ferrosocket.d.ts", default: "./sockets/ferrosocket.js" },
    "./sockets/ferrosocket_bg.wasm": "./sockets/ferrosocket_bg.wasm",
    "./package.json": "./package.json",
  },
  files: [
    "index.js",
    "index.d.ts",
    "ferrosocket.js",
    "ferrosocket.d.ts",
    "ferrosocket_bg.wasm",
    "ferrosocket_bg.wasm.d.ts",
    "snippets",
    "sockets",
    "README.md",
  ],
  // index.js initialises the module on import: a bundler must not drop it as unused.
  // The snippets are the hand-written classes that ferrosocket.js imports.
  sideEffects: ["./index.js", "./snippets/*", "./sockets/index.js", "./sockets/snippets/*"],
  keywords: ["websocket", "wasm", "webassembly", "reconnecting-websocket", "rust"],
};

writeFileSync(path, JSON.stringify(pkg, null, 2) + "\n");
