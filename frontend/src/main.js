// The page: Better Auth's own client for the session, TodoApi for the tasks, both through
// the one gateway URL that /config.json names.
import { createAuthClient } from "better-auth/client";
import { jwtClient } from "better-auth/client/plugins";

import { TodoApi } from "./api.js";
import { ApiError } from "./messages.js";
import { renderTasks } from "./view.js";

const $ = (id) => document.getElementById(id);

class App {
  #auth;
  #gatewayUrl;
  #api = null;
  #tasks = [];
  #editingId = null;

  constructor(gatewayUrl) {
    this.#gatewayUrl = gatewayUrl;
    this.#auth = createAuthClient({ baseURL: gatewayUrl, plugins: [jwtClient()] });
  }

  async start() {
    $("auth-form").addEventListener("submit", (event) => this.#authenticate(event));
    $("sign-out").addEventListener("click", () => this.#signOut());
    $("new-task").addEventListener("submit", (event) => this.#create(event));
    $("filter").addEventListener("change", () => this.#run(() => this.#reload()));
    const { data, error } = await this.#auth.getSession();
    if (error) {
      this.#showError(error.message ?? "The sign-in service cannot be reached.");
    }
    await (data ? this.#enter(data.user) : this.#leave());
  }

  async #fetchToken() {
    const { data, error } = await this.#auth.$fetch("/token", { method: "GET" });
    if (error || !data?.token) {
      throw new ApiError(401, "Your session has ended. Please sign in again.");
    }
    return data.token;
  }

  async #authenticate(event) {
    event.preventDefault();
    const form = new FormData(event.target);
    const email = form.get("email");
    const password = form.get("password");
    const name = form.get("name") || email.split("@")[0];
    const { data, error } =
      event.submitter?.value === "sign-up"
        ? await this.#auth.signUp.email({ email, password, name })
        : await this.#auth.signIn.email({ email, password });
    if (error) {
      this.#showError(error.message ?? `Signing in failed (HTTP ${error.status}).`);
      return;
    }
    event.target.reset();
    await this.#enter(data.user);
  }

  async #signOut() {
    await this.#auth.signOut();
    await this.#leave();
    this.#announce("Signed out.");
  }

  async #enter(user) {
    this.#api = new TodoApi(this.#gatewayUrl, () => this.#fetchToken(), user.id);
    $("signed-in-as").textContent = `Signed in as ${user.email}`;
    $("account").hidden = false;
    $("auth").hidden = true;
    $("tasks").hidden = false;
    this.#showError("");
    await this.#run(() => this.#reload());
    $("new-title").focus();
  }

  async #leave() {
    this.#api = null;
    this.#tasks = [];
    $("account").hidden = true;
    $("tasks").hidden = true;
    $("auth").hidden = false;
    $("auth-email").focus();
  }

  async #reload() {
    this.#tasks = await this.#api.list($("filter").value);
    this.#render();
  }

  #render() {
    const actions = {
      toggle: (task) => this.#run(() => this.#api.toggle(task.id), "Task updated."),
      remove: (task) => this.#run(() => this.#api.remove(task.id), "Task deleted."),
      edit: (task) => this.#setEditing(task.id),
      cancel: () => this.#setEditing(null),
      save: (task, fields) =>
        this.#run(async () => {
          await this.#api.update(task.id, fields);
          this.#editingId = null;
        }, "Task saved."),
    };
    renderTasks($("task-list"), $("empty"), this.#tasks, actions, this.#editingId);
  }

  #setEditing(id) {
    this.#editingId = id;
    this.#render();
  }

  async #create(event) {
    event.preventDefault();
    const form = event.target;
    const fields = new FormData(form);
    const created = await this.#run(
      () => this.#api.create(fields.get("title"), fields.get("description")),
      "Task added.",
    );
    if (created) {
      form.reset();
      $("new-title").focus();
    }
  }

  // Runs one call, then reloads the list; a refusal is shown in words, never thrown.
  async #run(call, success) {
    this.#showError("");
    try {
      await call();
      if (success) {
        await this.#reload();
        this.#announce(success);
      }
      return true;
    } catch (error) {
      if (!(error instanceof ApiError)) throw error;
      this.#showError(error.message);
      if (error.status === 401) await this.#leave();
      if (error.status === 404) await this.#reload().catch(() => {});
      return false;
    }
  }

  #showError(text) {
    $("error").textContent = text;
  }

  #announce(text) {
    $("status").textContent = text;
  }
}

const config = await (await fetch("/config.json")).json();
await new App(config.gatewayUrl).start();
