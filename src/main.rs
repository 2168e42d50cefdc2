fn main() {
    println!("mlcanary skeleton");
}
