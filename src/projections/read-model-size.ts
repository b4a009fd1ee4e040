import { stat } from 'node:fs/promises'

// The size on disk of the SQLite read models: the database file, its write-ahead log and the
// WAL's shared-memory index. With a PostgreSQL read model (READ_MODEL_URL) there is no file
// here: the size is the database server's to report (pg_database_size), and this answers null.

export interface ReadModelSize {
  file: string
  db: number
  wal: number
  shm: number
  total: number
}

export async function readModelSize (config: { dbFile: string, readModelUrl: string | undefined }): Promise<ReadModelSize | null> {
  // an old SQLite file left in DATA_DIR is not the read models
  if (config.readModelUrl !== undefined) return null
  const { dbFile } = config
  const size = async (f: string): Promise<number | undefined> => await stat(f).then(s => s.size, () => undefined)
  const db = await size(dbFile)
  if (db === undefined) return null
  const wal = await size(`${dbFile}-wal`) ?? 0
  const shm = await size(`${dbFile}-shm`) ?? 0
  return { file: dbFile, db, wal, shm, total: db + wal + shm }
}
