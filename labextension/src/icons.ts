/** Small SVG icons (emoji fonts are often missing, so nothing here relies on them). */
import { LabIcon } from '@jupyterlab/ui-components';

const svg = (name: string, path: string) =>
  new LabIcon({
    name: `nexus:${name}`,
    svgstr: `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><g class="jp-icon3" fill="#616161"><path d="${path}"/></g></svg>`
  });

export const micIcon = svg(
  'mic',
  'M12 14a3 3 0 0 0 3-3V5a3 3 0 0 0-6 0v6a3 3 0 0 0 3 3zm5-3a5 5 0 0 1-10 0H5a7 7 0 0 0 6 6.9V21h2v-3.1A7 7 0 0 0 19 11z'
);
export const thumbUpIcon = svg(
  'thumb-up',
  'M2 21h4V9H2zm20-11a2 2 0 0 0-2-2h-6.3l1-4.6v-.3a1.5 1.5 0 0 0-.5-1.1L13.2 1 7.6 6.6A2 2 0 0 0 7 8v11a2 2 0 0 0 2 2h9a2 2 0 0 0 1.8-1.2l3-7.1c.1-.2.2-.5.2-.7z'
);
export const thumbDownIcon = svg(
  'thumb-down',
  'M15 3H6a2 2 0 0 0-1.8 1.2l-3 7.1c-.1.2-.2.5-.2.7v2a2 2 0 0 0 2 2h6.3l-1 4.6v.3c0 .4.2.8.5 1.1l1 1 5.6-5.6A2 2 0 0 0 17 16V5a2 2 0 0 0-2-2zm4 0v12h4V3z'
);
export const chartIcon = svg('chart', 'M3 3h2v16h16v2H3zm4 12 4-5 3 3 5-7 1.6 1.2-6.4 8.9-3-3-2.6 3.1z');
