// With JavaScript, htmx refreshes the commune list itself: hide the no-JS reload buttons.
document.documentElement.classList.add("js");
