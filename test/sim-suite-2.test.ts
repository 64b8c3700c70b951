// Simulation seeds 501..1000; see sim-suite.ts.
import { simulationSuite } from './sim-suite.js';

simulationSuite('simulation part 2', 501, 500);
