// The alerts page: each receiver shows only the fields its type uses (a text message has
// no URL, a robot no phone numbers). Hidden fields keep their values and are still sent.
for (const fieldset of document.querySelectorAll("#alerts fieldset")) {
  const type = fieldset.querySelector("select[name$='-type']");
  const show = () => {
    for (const label of fieldset.querySelectorAll("[data-types]")) {
      label.hidden = !label.dataset.types.split(" ").includes(type.value);
    }
  };
  type.addEventListener("change", show);
  show();
}
