/**
 * API errors with the messages and status codes of Toxiproxy 2.x (api.go), serialised as
 * `{"error": "...", "status": N}`. Anything thrown that is not an ApiError becomes a 500 with its
 * message, as the real server does for listen and resolve failures.
 */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  toJSON(): { error: string; status: number } {
    return { error: this.message, status: this.status };
  }

  /** `wrapper: cause`, keeping the wrapper's status (Toxiproxy's joinError). */
  static join(wrapper: ApiError, cause: string): ApiError {
    return new ApiError(`${wrapper.message}: ${cause}`, wrapper.status);
  }
}

export const ErrBadRequestBody = new ApiError('bad request body', 400);
export const ErrMissingField = new ApiError('missing required field', 400);
export const ErrProxyNotFound = new ApiError('proxy not found', 404);
export const ErrProxyAlreadyExists = new ApiError('proxy already exists', 409);
export const ErrInvalidStream = new ApiError('stream was invalid, can be either upstream or downstream', 400);
export const ErrInvalidToxicType = new ApiError('invalid toxic type', 400);
export const ErrToxicAlreadyExists = new ApiError('toxic already exists', 409);
export const ErrToxicNotFound = new ApiError('toxic not found', 404);

/** Any thrown value as an ApiError; unknown errors are 500s, like the real server. */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  return new ApiError(err instanceof Error ? err.message : String(err), 500);
}
