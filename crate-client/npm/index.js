// The package's main entry ("ferrosocket"): the client library, ready on import.
//
// It instantiates the WebAssembly module with top-level await before any importer runs,
// so `import { FerroSocket } from "ferrosocket"` needs no init() call, with a bundler or
// in a plain <script type="module">. Written by scripts/package.sh next to the output of
// `wasm-pack build --target web` (ferrosocket.js), which "ferrosocket/init" exposes as is.
import init from "./ferrosocket.js";

export * from "./ferrosocket.js";

try {
  // Fetches `new URL("ferrosocket_bg.wasm", import.meta.url)`: the pattern webpack, Vite
  // and Parcel recognise and copy; a browser loading this file unbundled finds it too.
  await init();
} catch (cause) {
  // Said once, with the cause and the two ways out, instead of a bare 404 or a MIME
  // type complaint from WebAssembly.instantiateStreaming.
  throw new Error(
    "ferrosocket: could not load its WebAssembly module (ferrosocket_bg.wasm, looked for " +
      "next to the script that imports it). A bundler that does not copy files named by " +
      "new URL(..., import.meta.url), such as esbuild, needs " +
      "node_modules/ferrosocket/ferrosocket_bg.wasm copied next to the bundle; or import " +
      'from "ferrosocket/init" and call init(wasmUrl) yourself. Cause: ' +
      String(cause),
    { cause },
  );
}
