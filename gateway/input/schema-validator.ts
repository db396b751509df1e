// A JSON Schema's validator, compiled the first time it is used: compiling the registry, policy,
// case and manifest schemas took ~150 ms at import, paid by every `hetao` command, even `--help`.
import { Ajv, type Options, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';

export function schemaValidator<T>(schema: object, options: Options, { formats = false }: { formats?: boolean } = {}): () => ValidateFunction<T> {
  let validate: ValidateFunction<T> | undefined;
  return () => {
    if (!validate) {
      const ajv = new Ajv(options);
      if (formats) addFormats.default(ajv);
      validate = ajv.compile<T>(schema);
    }
    return validate;
  };
}
