// The bench installs better-sqlite3 12 under this alias (for plainjob) beside version 11.9.1,
// which liteque 0.8 needs; both share the @types/better-sqlite3 declarations.
declare module 'better-sqlite3-12' {
  import Database from 'better-sqlite3';
  export default Database;
}
