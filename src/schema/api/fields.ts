import { Type, type TString } from '@sinclair/typebox'
import * as collect from '../events/collect.js'
import * as jobs from '../events/jobs.js'
import * as meetings from '../events/meetings.js'

// Fields as they enter over HTTP: one definition per field, reused on every route that takes
// it, so the same field has the same limits everywhere. They keep the bounds of the published
// event schemas (which never change in place) and add what the edge must refuse before a value
// can reach a NATS subject or header, a SQLite row or a log line: control characters (C0, DEL,
// C1), lone UTF-16 surrogates (not Unicode text; they would be stored as U+FFFD), and for ids
// a space at either end.

const CONTROL_OR_LONE_SURROGATE = '\\u0000-\\u001F\\u007F-\\u009F\\uD800-\\uDFFF'
// ajv compiles patterns with the `u` flag, so a class of surrogates matches only lone ones.
export const NAME_PATTERN = `^[^${CONTROL_OR_LONE_SURROGATE}]*$`
export const ID_PATTERN = `^(?!\\s)[^${CONTROL_OR_LONE_SURROGATE}]*(?<!\\s)$`
/** free text: tab, line feed and carriage return are allowed, other controls are not */
export const TEXT_PATTERN = '^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F\\uD800-\\uDFFF]*$'

/** What a 400 says when a pattern above refuses a value (ajv would print the pattern). */
export const PATTERN_MESSAGES: ReadonlyMap<string, string> = new Map([
  [NAME_PATTERN, 'must not contain control characters or lone UTF-16 surrogates'],
  [ID_PATTERN, 'must not contain control characters or lone UTF-16 surrogates, nor start or end with a space'],
  [TEXT_PATTERN, 'must not contain control characters (other than tab and line breaks) or lone UTF-16 surrogates']
])

function edge (published: TString, pattern: string): TString {
  return Type.String({ minLength: published.minLength, maxLength: published.maxLength, pattern })
}

/** the collector's event_id */
export const EventId = edge(collect.EventId, ID_PATTERN)
/** the collector's event name */
export const EventName = edge(collect.EventName, NAME_PATTERN)
/** a user id: the collector's user_id, a job's userId */
export const UserId = edge(collect.UserId, NAME_PATTERN)
/** a job id: the path of /noti/*, an intake event's data.eventId or id */
export const JobId = edge(jobs.JobId, ID_PATTERN)
/** a job's outcome text: eventDesc, or an intake event's data.desc / reason / eventDesc */
export const EventDesc = Type.String({ maxLength: jobs.EventDesc.maxLength, pattern: TEXT_PATTERN })
/** the id an intake sender gave its event (Event Grid / CloudEvents `id`) */
export const SourceId = Type.String({ minLength: 1, maxLength: 256, pattern: ID_PATTERN })
/** the type an intake sender gave its event (Event Grid `eventType`, CloudEvents `type`) */
export const SourceType = Type.String({ minLength: 1, maxLength: 256, pattern: NAME_PATTERN })

/** a meeting's title and location, a person's name: one line of text */
export const Title = edge(meetings.Title, NAME_PATTERN)
export const Location = edge(meetings.Location, NAME_PATTERN)
export const PersonName = edge(meetings.PersonName, NAME_PATTERN)
/** a meeting's description, a cancel reason: free text */
export const Description = Type.String({ maxLength: meetings.Description.maxLength, pattern: TEXT_PATTERN })
export const Reason = Type.String({ maxLength: 1000, pattern: TEXT_PATTERN })
export const Participant = Type.Object({ email: meetings.Email, name: Type.Optional(PersonName) })
export const Organizer = Type.Object({ userId: UserId, email: meetings.Email, name: Type.Optional(PersonName) })
