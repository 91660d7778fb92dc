// Messages for errors a caller can cause: name the argument, say what is
// accepted, show what was passed.

export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  try {
    if (Array.isArray(value)) return 'an array';
  } catch {
    return 'a revoked Proxy'; // which throws at every use
  }
  switch (typeof value) {
    case 'string':
      return `the string ${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value)}`;
    case 'number':
    case 'bigint':
    case 'boolean':
      return `${typeof value} ${String(value)}`;
    case 'object': {
      // The built-in type (Float64Array, Map...), also from another realm.
      const tag = Object.prototype.toString.call(value).slice(8, -1);
      // 'a Uint8Array': every built-in name starting with U says "you".
      return tag === 'Object' ? 'an object' : `${/^[AEIO]/.test(tag) ? 'an' : 'a'} ${tag}`;
    }
    default:
      return typeof value;
  }
}

export function isObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  try {
    return !Array.isArray(value);
  } catch {
    return false; // a revoked Proxy
  }
}

const typedArrayLengthGetter = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Int8Array.prototype), 'length')!.get!;

/**
 * A typed array's real length: the built-in getter's, not an own `length`
 * property a caller may have put on the object (a buffer that says it has
 * more room than it has would lose what is written past its end).
 */
export function typedArrayLength(view: ArrayBufferView): number {
  return typedArrayLengthGetter.call(view) as number;
}
