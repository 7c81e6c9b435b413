// Bundle entry: the CLI-form custom element widget, hosted as <wixapp-cli-widget>.
import GreetingWidget from './widget-element.js';
import { defineSiteWidget } from './runtime-site.js';

defineSiteWidget('wixapp-cli-widget', GreetingWidget);
