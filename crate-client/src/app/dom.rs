//! Small DOM helpers for the chat page: creating elements whose text is always set with
//! `textContent` (never parsed as HTML), and finding the page's elements by id.

use wasm_bindgen::JsCast;
use web_sys::{Document, Element, HtmlElement};

/// The page's document.
pub(crate) fn document() -> Document {
    web_sys::window()
        .and_then(|window| window.document())
        .expect("the chat page runs in a window with a document")
}

/// The element with `id`, cast to `T`; a missing element is a broken page, named here.
pub(crate) fn by_id<T: JsCast>(id: &str) -> T {
    document()
        .get_element_by_id(id)
        .unwrap_or_else(|| panic!("the chat page has no #{id} element"))
        .dyn_into::<T>()
        .unwrap_or_else(|_| panic!("#{id} is not the expected kind of element"))
}

/// A new `<tag class="class">` whose text is `text`, set as text.
pub(crate) fn element(tag: &str, class: &str, text: &str) -> HtmlElement {
    let element: HtmlElement = document()
        .create_element(tag)
        .expect("a valid tag name")
        .unchecked_into();
    if !class.is_empty() {
        element.set_class_name(class);
    }
    if !text.is_empty() {
        element.set_text_content(Some(text));
    }
    element
}

/// Appends `child` to `parent`.
pub(crate) fn append(parent: &Element, child: &Element) {
    parent.append_child(child).expect("appending to an element");
}

/// Removes every child of `parent`.
pub(crate) fn clear(parent: &Element) {
    parent.set_text_content(None);
}
