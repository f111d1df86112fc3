/** SQL files are bundled as text: esbuild's text loader in tsup, a transform in vitest. */
declare module '*.sql' {
  const text: string;
  export default text;
}
