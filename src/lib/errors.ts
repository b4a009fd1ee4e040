// Errors with a stable code. src/api/http/errors.ts is the one place that maps codes to HTTP.
export const ErrorCodes = {
  validation: 'JETWAY_VALIDATION',
  unauthorized: 'JETWAY_UNAUTHORIZED',
  forbidden: 'JETWAY_FORBIDDEN',
  notFound: 'JETWAY_NOT_FOUND',
  /** the domain refuses the command in the resource's current state (a closed task, a cancelled meeting): the answer */
  conflict: 'JETWAY_CONFLICT',
  /** another write reached the resource first (JetStream's wrong last subject sequence): decide again, or retry */
  versionConflict: 'JETWAY_VERSION_CONFLICT',
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

/**
 * An append that expected the subject's last sequence found another: someone wrote first. Not
 * a refusal: deciding again on the newer state may succeed (the command handler does so).
 */
export class VersionConflict extends JetwayError {
  override name = 'VersionConflict'
  constructor (message = 'the resource changed since the version you sent') {
    super(ErrorCodes.versionConflict, message)
  }
}
