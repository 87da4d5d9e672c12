// A contestant's public profile (/c/{name}): rating, place, level, badges and rating history.
import { $, clear, h } from "/static/js/ui.js";
import { profilePanel } from "/static/js/achievements.js";

const name = decodeURIComponent(location.pathname.replace(/^\/c\//, "").replace(/\/+$/, ""));
document.title = `${name} · Arena`;
clear($("#app"), h("h1", { id: "contestant-name" }, name), profilePanel(name));
