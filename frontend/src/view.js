// The task list: one <li> per task, and an inline form to edit one. Actions are callbacks.

function element(tag, properties = {}, ...children) {
  const node = Object.assign(document.createElement(tag), properties);
  node.append(...children);
  return node;
}

function taskItem(task, actions) {
  const id = `task-${task.id}`;
  const checkbox = element("input", { type: "checkbox", id, checked: task.completed });
  checkbox.addEventListener("change", () => actions.toggle(task));
  const title = element("label", { htmlFor: id, className: "title" }, task.title);
  const text = element("div", { className: "text" }, title);
  if (task.description) {
    text.append(element("span", { className: "description" }, task.description));
  }
  const edit = element("button", { type: "button" }, "Edit");
  edit.setAttribute("aria-label", `Edit “${task.title}”`);
  edit.addEventListener("click", () => actions.edit(task));
  const remove = element("button", { type: "button" }, "Delete");
  remove.setAttribute("aria-label", `Delete “${task.title}”`);
  remove.addEventListener("click", () => actions.remove(task));
  const item = element("li", { className: task.completed ? "done" : "" });
  item.append(checkbox, text, edit, remove);
  item.dataset.taskId = String(task.id);
  return item;
}

function editForm(task, actions) {
  const titleInput = element("input", {
    id: `edit-title-${task.id}`,
    value: task.title,
    maxLength: 200,
    required: true,
  });
  const descriptionInput = element("input", {
    id: `edit-description-${task.id}`,
    value: task.description ?? "",
    maxLength: 1000,
  });
  const form = element(
    "form",
    { className: "text" },
    element("label", { htmlFor: titleInput.id }, "Title"),
    titleInput,
    element("label", { htmlFor: descriptionInput.id }, "Description"),
    descriptionInput,
    element("button", { type: "submit" }, "Save"),
    element("button", { type: "button", className: "cancel" }, "Cancel"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    actions.save(task, { title: titleInput.value, description: descriptionInput.value || null });
  });
  form.querySelector(".cancel").addEventListener("click", () => actions.cancel());
  form.addEventListener("keydown", (event) => event.key === "Escape" && actions.cancel());
  return form;
}

export function renderTasks(list, empty, tasks, actions, editingId) {
  list.replaceChildren(
    ...tasks.map((task) =>
      task.id === editingId
        ? element("li", {}, editForm(task, actions))
        : taskItem(task, actions),
    ),
  );
  empty.hidden = tasks.length > 0;
  list.querySelector(`#edit-title-${editingId}`)?.focus();
}
