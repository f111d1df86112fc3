/** Lua script sources, inlined as strings by the build (tsup) and by vitest. */
declare module '*.lua' {
  const source: string;
  export default source;
}
