// The package's main entry ("ferrosocket"): everything "ferrosocket/init" exports except
// its default export (init), which has already run when this module finishes loading.
export * from "./ferrosocket.js";
