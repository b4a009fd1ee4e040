// Deleting rows by a list of ids, in chunks that stay far below SQLite's 32766 bound
// parameters (and PostgreSQL's 65535): how a read model drops what KEEP_FINISHED or an
// erasure removed (src/projections/expiry.ts, src/projections/erasures.ts).

const CHUNK = 500

/** Runs `remove` on each chunk of `ids`; resolves the rows it says it removed in all. */
export async function deleteIn (ids: readonly string[], remove: (chunk: string[]) => Promise<bigint | number>): Promise<number> {
  let n = 0
  for (let i = 0; i < ids.length; i += CHUNK) n += Number(await remove(ids.slice(i, i + CHUNK)))
  return n
}
