// Bundle entry: the CLI-form settings panel, rendered into the page's #root.
import Panel from './panel.jsx';
import { renderPanel } from './runtime-editor.js';

function main() {
  renderPanel(Panel, document.getElementById('root'));
}

if (document.readyState === 'loading') {
  document.addEventListener('DOMContentLoaded', main, { once: true });
} else {
  main();
}
