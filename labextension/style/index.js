import './index.css';
import './agent.css';
