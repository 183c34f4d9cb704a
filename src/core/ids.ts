import { v7 as uuidv7 } from 'uuid';

/** Returns a time-ordered UUIDv7, used for event ids and request ids. */
export function newId(): string {
  return uuidv7();
}
