//! Tools on top of the layers, never called by them: the measurements (`lotline bench`), the
//! large-plant generator (`lotline demo --lots N`) and the demo plant of `serve --demo`. Each
//! drives the same operations, pages and API a plant uses.

pub mod bench;
pub mod demo;
pub mod generate;
