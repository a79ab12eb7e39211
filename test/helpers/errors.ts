import { CairnError, type ErrorCode } from '../../src/common/errors';

/** The code of the CairnError `fn` throws, or 'no error'; anything else it throws is rethrown. */
export function codeOf(fn: () => unknown): ErrorCode | 'no error' {
  try {
    fn();
  } catch (err) {
    if (err instanceof CairnError) return err.code;
    throw err;
  }
  return 'no error';
}
