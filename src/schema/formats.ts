import { FormatRegistry } from '@sinclair/typebox'

// TypeBox's compiler knows no string formats until they are registered; ajv (HTTP) has its own
// from ajv-formats. These are the ones event schemas use.
const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/

if (!FormatRegistry.Has('date-time')) FormatRegistry.Set('date-time', v => ISO_DATE_TIME.test(v) && !Number.isNaN(Date.parse(v)))
if (!FormatRegistry.Has('email')) FormatRegistry.Set('email', v => EMAIL.test(v))
