import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv'
import addFormats from 'ajv-formats'
import type { TSchema, Static } from '@sinclair/typebox'
import type { FastifySchemaCompiler } from 'fastify'
import type { FieldError } from '../../lib/errors.js'
import { PATTERN_MESSAGES } from '../../schema/api/fields.js'

// Two validators, as Fastify's docs suggest for per-part options: bodies are JSON and must
// carry the right types (no coercion: "12.5" is not a price), while path and query strings
// are coerced to the integers and booleans their schemas declare.
const strict = addFormats.default(new Ajv({ allErrors: true, coerceTypes: false, useDefaults: true, removeAdditional: false, strict: false }))
const coercing = addFormats.default(new Ajv({ allErrors: true, coerceTypes: true, useDefaults: true, removeAdditional: false, strict: false }))

export const validatorCompiler: FastifySchemaCompiler<TSchema> = ({ schema, httpPart }) =>
  (httpPart === 'body' ? strict : coercing).compile(schema)

/** Field-level errors from ajv: 'parameters.price', 'events.3.user_id'. */
export function fieldErrors (errors: ErrorObject[] | null | undefined, prefix = ''): FieldError[] {
  const out = new Map<string, FieldError>()
  for (const e of errors ?? []) {
    const path = e.instancePath.split('/').slice(1).map(p => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    if (e.keyword === 'required') path.push(String(e.params.missingProperty))
    if (e.keyword === 'additionalProperties') path.push(String(e.params.additionalProperty))
    const field = [prefix, ...path].filter(p => p !== '').join('.') || '(body)'
    // the first message per field is the useful one (a union reports one per branch)
    const message = e.keyword === 'required'
      ? 'is required'
      : (e.keyword === 'pattern' ? PATTERN_MESSAGES.get(String(e.params.pattern)) : undefined) ?? e.message ?? 'is invalid'
    if (!out.has(field)) out.set(field, { field, message })
  }
  // A field with errors inside it ('parameters.price') explains more than the union's
  // verdict on the field itself ('parameters must be null'), so the outer one goes.
  const fields = [...out.keys()]
  return [...out.values()].filter(e => !fields.some(f => f.startsWith(e.field + '.')))
}

/** A body validator for values checked inside a handler (e.g. each event of a batch). */
export function bodyValidator<S extends TSchema> (schema: S): (value: unknown, prefix: string) => { ok: true, value: Static<S> } | { ok: false, errors: FieldError[] } {
  const validate: ValidateFunction = strict.compile(schema)
  return (value, prefix) => validate(value)
    ? { ok: true, value: value as Static<S> }
    : { ok: false, errors: fieldErrors(validate.errors, prefix) }
}
