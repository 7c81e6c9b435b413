// Bundle entry: the CLI-form React widget, hosted as <wixapp-cli-widget-react>.
import GreetingWidget from './widget-react.jsx';
import { defineSiteWidget } from './runtime-site.js';

defineSiteWidget('wixapp-cli-widget-react', GreetingWidget);
