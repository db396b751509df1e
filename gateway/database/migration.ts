/** One versioned step of the database schema: applied once, in order, in a transaction of its own. */
export interface Migration {
  /** 1, 2, 3, … without gaps; never renumbered once released. */
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}
