// Errors with a stable code. src/api/http/errors.ts is the one place that maps codes to HTTP.
export const ErrorCodes = {
  validation: 'JETWAY_VALIDATION',
  unauthorized: 'JETWAY_UNAUTHORIZED',
  forbidden: 'JETWAY_FORBIDDEN',
  notFound: 'JETWAY_NOT_FOUND',
  conflict: 'JETWAY_CONFLICT',
  preconditionFailed: 'JETWAY_PRECONDITION_FAILED',
  notCaughtUp: 'JETWAY_PROJECTION_LAGGING',
  unavailable: 'JETWAY_UNAVAILABLE',
  /** NATS JetStream cannot take or serve a request now (a node lost, a leader election): retry */
  storeUnavailable: 'JETWAY_STORE_UNAVAILABLE',
  /** a write for a user erased with ?suppress=true (until DELETE /api/suppressions/{userId}) */
  suppressed: 'JETWAY_USER_SUPPRESSED'
} as const
export type ErrorCode = typeof ErrorCodes[keyof typeof ErrorCodes]

export interface FieldError {
  field: string
  message: string
}

export class JetwayError extends Error {
  constructor (readonly code: ErrorCode, message: string, readonly errors: FieldError[] = []) {
    super(message)
    this.name = 'JetwayError'
  }
}
