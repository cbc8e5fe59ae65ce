pub mod torch_zip;
