import { Type, type Static } from '@sinclair/typebox'

export const FieldError = Type.Object({
  field: Type.String({ description: "dotted path of the offending field, e.g. 'parameters.price'" }),
  message: Type.String()
})
export type FieldError = Static<typeof FieldError>
