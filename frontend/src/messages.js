// The gateway's and the backend's JSON errors ({"error", "message", "request_id"}) in words.

const BY_STATUS = {
  400: () => "The request was not understood.",
  401: () => "Your session has ended. Please sign in again.",
  403: () => "You are not allowed to do that: these tasks belong to another account.",
  404: () => "That task does not exist any more. The list has been refreshed.",
  408: () => "The request took too long to arrive. Please try again.",
  413: () => "That is too large to save. Please shorten it.",
  422: (body) => `Please check the task: ${body?.message ?? "a field is not valid"}.`,
  429: (_body, response) => {
    const seconds = Number(response.headers.get("Retry-After"));
    const wait = seconds > 0 ? `in ${seconds} seconds` : "in a moment";
    return `Too many requests. Please try again ${wait}.`;
  },
  502: () => "The task service cannot be reached right now. Please try again shortly.",
  503: () => "The task service is unavailable right now. Please try again shortly.",
  504: () => "The task service took too long to answer. Please try again.",
};

export class ApiError extends Error {
  constructor(status, text, requestId) {
    super(requestId ? `${text} (request ${requestId})` : text);
    this.status = status;
  }

  static async from(response) {
    const body = await response.json().catch(() => null);
    const describe = BY_STATUS[response.status];
    const text = describe
      ? describe(body, response)
      : `Something went wrong (HTTP ${response.status}).`;
    const requestId = body?.request_id ?? response.headers.get("X-Request-ID");
    return new ApiError(response.status, text, requestId);
  }
}

export const UNREACHABLE = "The gateway cannot be reached. Check your connection and try again.";
