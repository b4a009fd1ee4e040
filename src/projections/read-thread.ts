import SQLite from 'better-sqlite3'
import { searchPage, type SearchQuery } from './collect-search.js'

// A read thread of read-pool.ts (a piscina worker): a read-only connection to the read-model
// file, opened on the first task. WAL lets it read beside the projections' writer; a read
// sees every transaction committed before it began.

export interface ReadTask { file: string, query: SearchQuery }

const connections = new Map<string, SQLite.Database>()

export default function read ({ file, query }: ReadTask): string {
  let sqlite = connections.get(file)
  if (sqlite === undefined) {
    sqlite = new SQLite(file, { readonly: true, fileMustExist: true })
    sqlite.pragma('busy_timeout = 5000')
    sqlite.pragma('cache_size = -16384') // 16 MiB per thread; the OS keeps the rest of the file cached
    connections.set(file, sqlite)
  }
  return searchPage(sqlite, query)
}
