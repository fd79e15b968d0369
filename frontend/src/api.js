// The Todo API through the gateway. The JWT lives in this object only (never in storage); a
// 401 means it expired or was revoked, so it is fetched again once and the request retried.
import { ApiError, UNREACHABLE } from "./messages.js";

export class TodoApi {
  #gatewayUrl;
  #fetchToken;
  #userId;
  #token = null;

  constructor(gatewayUrl, fetchToken, userId) {
    this.#gatewayUrl = gatewayUrl;
    this.#fetchToken = fetchToken;
    this.#userId = encodeURIComponent(userId);
  }

  list(status) {
    return this.#request("GET", `tasks?status=${encodeURIComponent(status)}&sort=created`);
  }

  create(title, description) {
    return this.#request("POST", "tasks", { title, description: description || null });
  }

  update(id, fields) {
    return this.#request("PUT", `tasks/${id}`, fields);
  }

  toggle(id) {
    return this.#request("PATCH", `tasks/${id}/complete`);
  }

  remove(id) {
    return this.#request("DELETE", `tasks/${id}`);
  }

  async #request(method, path, body) {
    let response = await this.#send(method, path, body, false);
    if (response.status === 401) {
      response = await this.#send(method, path, body, true);
    }
    if (!response.ok) {
      throw await ApiError.from(response);
    }
    return response.status === 204 ? null : response.json();
  }

  async #send(method, path, body, freshToken) {
    if (freshToken || this.#token === null) {
      this.#token = await this.#fetchToken();
    }
    const headers = { Authorization: `Bearer ${this.#token}` };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
    }
    const url = `${this.#gatewayUrl}/api/${this.#userId}/${path}`;
    try {
      return await fetch(url, { method, headers, body: body && JSON.stringify(body) });
    } catch {
      throw new ApiError(0, UNREACHABLE);
    }
  }
}
